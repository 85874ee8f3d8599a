package flow

import (
	_ "embed"
	"fmt"

	"github.com/lianlu/lianlu"
)

//go:embed defaults.yaml
var defaultsYAML []byte

// SeededDepartments lists the departments every installation starts with,
// the ones the default flows address.
func SeededDepartments() []string {
	return []string{
		lianlu.DeptMarketing, lianlu.DeptSales, lianlu.DeptService, lianlu.DeptSupplyChain,
		lianlu.DeptProduct, lianlu.DeptStores, lianlu.DeptAdmin,
	}
}

// DefaultsYAML returns the text of the default flows, as shipped.
func DefaultsYAML() []byte { return append([]byte(nil), defaultsYAML...) }

// Defaults returns the default flows embedded in the binary: order placed,
// fulfillment backordered and feedback submitted. Each call returns a fresh
// copy. It panics if the embedded file does not parse or validate against
// BuiltinActionSpecs and SeededDepartments, which a test rules out.
func Defaults() []Definition {
	defs, err := Parse(defaultsYAML)
	if err == nil {
		err = Validate(defs, ValidationEnv{Departments: SeededDepartments()})
	}
	if err != nil {
		panic(fmt.Sprintf("flow: invalid embedded defaults.yaml: %v %v", err, lianlu.ErrorFields(err)))
	}
	return defs
}
