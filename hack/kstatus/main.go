// Command kstatus prints the verdict of kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute,
// the library Flux and cli-utils use to decide whether an applied object is done) on Kubernetes
// objects given as JSON: the files named as arguments, or a stream of objects on stdin ("-" or no
// argument). It prints one JSON object per input object, in order:
//
//	{"source": "FILE", "status": "Current|InProgress|Failed|Terminating", "message": "..."}
//
// Unreadable or invalid input is reported on stderr with exit status 1; usage errors exit 2.
// See hack/README.md (`kstatus.sh`).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// verdict is what the checker prints for one object.
type verdict struct {
	Source  string `json:"source"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// compute runs kstatus on one decoded object.
func compute(source string, object map[string]interface{}) (verdict, error) {
	if object == nil {
		return verdict{}, fmt.Errorf("%s: not a JSON object", source)
	}
	result, err := status.Compute(&unstructured.Unstructured{Object: object})
	if err != nil {
		return verdict{}, fmt.Errorf("%s: kstatus: %w", source, err)
	}
	return verdict{Source: source, Status: result.Status.String(), Message: result.Message}, nil
}

// check decodes every JSON object in r (one or more, concatenated) and prints their verdicts.
func check(source string, r io.Reader, out *json.Encoder) error {
	decoder := json.NewDecoder(r)
	for index := 0; ; index++ {
		var raw json.RawMessage
		err := decoder.Decode(&raw)
		if errors.Is(err, io.EOF) {
			if index == 0 {
				return fmt.Errorf("%s: no JSON object in the input", source)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: object %d is not valid JSON: %w", source, index+1, err)
		}
		// As client-go decodes objects: whole numbers become int64, which kstatus expects.
		var object map[string]interface{}
		if err := utiljson.Unmarshal(raw, &object); err != nil {
			return fmt.Errorf("%s: object %d is not a JSON object: %w", source, index+1, err)
		}
		result, err := compute(source, object)
		if err != nil {
			return err
		}
		if err := out.Encode(result); err != nil {
			return err
		}
	}
}

func run(args []string) error {
	out := json.NewEncoder(os.Stdout)
	if len(args) == 0 {
		args = []string{"-"}
	}
	for _, name := range args {
		if name == "-" {
			if err := check("-", os.Stdin, out); err != nil {
				return err
			}
			continue
		}
		file, err := os.Open(name)
		if err != nil {
			return err
		}
		err = check(name, file, out)
		file.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-h" || os.Args[1] == "--help") {
		fmt.Fprintln(os.Stderr, "usage: kstatus [FILE.json | -]...  (prints the kstatus verdict of each object as a JSON line)")
		os.Exit(2)
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}
