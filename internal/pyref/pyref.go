// Package pyref finds the Python that writes the tests' reference files: Debian's python3 with
// the modules a generator imports (python3-torch, python3-torchvision, python3-pil, …). A test
// without them is skipped — unless ATTNCAP_REQUIRE_REFERENCES is set, as CI sets it, where their
// absence is a failure.
package pyref

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Require returns the Python interpreter that imports every module of modules, or skips (or,
// under ATTNCAP_REQUIRE_REFERENCES, fails) the test, naming the Debian packages to install.
func Require(t testing.TB, modules ...string) string {
	t.Helper()
	script := "import " + strings.Join(modules, ", ")
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if err := exec.Command(py, "-c", script).Run(); err == nil {
			return py
		}
	}
	var pkgs []string
	for _, m := range modules {
		pkgs = append(pkgs, debianPackage(m))
	}
	msg := "needs python3 with " + strings.Join(modules, ", ") + " (apt-get install " + strings.Join(pkgs, " ") + ") to write its reference files"
	if os.Getenv("ATTNCAP_REQUIRE_REFERENCES") != "" {
		t.Fatal(msg + " (required: ATTNCAP_REQUIRE_REFERENCES is set)")
	}
	t.Skip(msg)
	return ""
}

// Run runs a generator script with the interpreter and fails the test with its output if it
// fails.
func Run(t testing.TB, python string, args ...string) {
	t.Helper()
	if out, err := exec.Command(python, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func debianPackage(module string) string {
	switch module {
	case "PIL":
		return "python3-pil"
	case "nltk":
		return "python3-nltk"
	}
	return "python3-" + module
}
