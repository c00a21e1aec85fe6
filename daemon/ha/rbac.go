package ha

import rbacv1 "k8s.io/api/rbac/v1"

// RequiredRules is all the RBAC an Elector needs, granted by a Role in the
// Lease's namespace: create the Lease once, then get and update that Lease
// alone. (RBAC cannot limit create to a name.)
func RequiredRules(leaseName string) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{
		APIGroups: []string{"coordination.k8s.io"},
		Resources: []string{"leases"},
		Verbs:     []string{"create"},
	}, {
		APIGroups:     []string{"coordination.k8s.io"},
		Resources:     []string{"leases"},
		ResourceNames: []string{leaseName},
		Verbs:         []string{"get", "update"},
	}}
}
