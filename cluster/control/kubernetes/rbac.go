package kubernetes

import rbacv1 "k8s.io/api/rbac/v1"

// RequiredRules is all the RBAC the controller needs, granted by a Role in
// the pods' namespace (deploy/kubernetes/common/role.yaml): get and delete to kill,
// list and watch to wait for the recreated pod, get for up.
var RequiredRules = []rbacv1.PolicyRule{{
	APIGroups: []string{""},
	Resources: []string{"pods"},
	Verbs:     []string{"get", "list", "watch", "delete"},
}}
