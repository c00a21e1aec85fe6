package run

// Criterion is one pass condition, with what was measured.
type Criterion struct {
	Name      string  `json:"name"`
	Op        string  `json:"op"` // "<", "<=", ">", ">="
	Threshold float64 `json:"threshold"`
	Value     float64 `json:"value"`
	Unit      string  `json:"unit,omitempty"`
	Passed    bool    `json:"passed"`
}

// Judge is the criterion "m op threshold" against value. A value never
// measured is NotMeasured, which fails every "<" and "<=" criterion.
func Judge(m Measure, op string, threshold, value float64) Criterion {
	c := Criterion{Name: m.Key, Op: op, Threshold: threshold, Value: value, Unit: m.Unit.symbol()}
	switch op {
	case "<":
		c.Passed = value < threshold
	case "<=":
		c.Passed = value <= threshold
	case ">":
		c.Passed = value > threshold
	case ">=":
		c.Passed = value >= threshold
	}
	return c
}

// Describe writes the criterion for people: "failover 16.2 s, must be < 15 s".
func (c Criterion) Describe() string {
	m := Lookup(c.Name)
	return m.Short + " " + m.Format(c.Value) + ", must be " + c.Op + " " + m.Format(c.Threshold)
}
