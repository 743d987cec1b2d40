package dsl

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Model configs are structs whose fields carry an `mlc:"key"` tag and a
// `help:"..."` tag. ApplyConfig sets them from the CLI's -config k=v,k=v form.
// Supported field types: int, float64, bool, string and []int (written with
// '-' between numbers: sizes=784-256-10).

// ConfigKey describes one settable key.
type ConfigKey struct {
	Name    string
	Type    string
	Default string
	Help    string
}

func configStruct(cfg any) (reflect.Value, error) {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("config must be a pointer to a struct, got %T", cfg)
	}
	return v.Elem(), nil
}

// ConfigKeys lists the keys of a config struct with their current values.
func ConfigKeys(cfg any) []ConfigKey {
	v, err := configStruct(cfg)
	if err != nil {
		return nil
	}
	var keys []ConfigKey
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name := f.Tag.Get("mlc")
		if name == "" {
			continue
		}
		keys = append(keys, ConfigKey{Name: name, Type: typeName(f.Type), Default: formatValue(v.Field(i)), Help: f.Tag.Get("help")})
	}
	return keys
}

func typeName(t reflect.Type) string {
	if t.Kind() == reflect.Slice {
		return "ints"
	}
	return t.Kind().String()
}

func formatValue(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.String:
		return v.String()
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = strconv.FormatInt(v.Index(i).Int(), 10)
		}
		return strings.Join(parts, "-")
	}
	return fmt.Sprint(v.Interface())
}

// FormatConfig prints every key as k=v,k=v in field order: the canonical form
// recorded in checkpoints and used in cache keys.
func FormatConfig(cfg any) string {
	var parts []string
	for _, k := range ConfigKeys(cfg) {
		parts = append(parts, k.Name+"="+k.Default)
	}
	return strings.Join(parts, ",")
}

// ApplyConfig sets fields of cfg (a pointer to a config struct) from
// "k=v,k=v". The model name is used in error messages.
func ApplyConfig(model string, cfg any, spec string) error {
	v, err := configStruct(cfg)
	if err != nil {
		return err
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil
	}
	fields := map[string]reflect.Value{}
	var names []string
	for i := range v.NumField() {
		if name := v.Type().Field(i).Tag.Get("mlc"); name != "" {
			fields[name] = v.Field(i)
			names = append(names, name)
		}
	}
	for _, item := range strings.Split(spec, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || k == "" {
			return fmt.Errorf("malformed -config item %q: want key=value", item)
		}
		f, ok := fields[k]
		if !ok {
			if len(names) == 0 {
				return fmt.Errorf("%s has no config keys, got %q", model, k)
			}
			return fmt.Errorf("unknown config key %q for %s (keys: %s)", k, model, strings.Join(names, ", "))
		}
		if err := setValue(f, val); err != nil {
			return fmt.Errorf("config key %q: %v", k, err)
		}
	}
	return nil
}

func setValue(f reflect.Value, s string) error {
	switch f.Kind() {
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		f.SetInt(int64(n))
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		f.SetFloat(x)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		f.SetBool(b)
	case reflect.String:
		f.SetString(s)
	case reflect.Slice:
		parts := strings.Split(s, "-")
		out := reflect.MakeSlice(f.Type(), len(parts), len(parts))
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil {
				return fmt.Errorf("%q is not a list of integers like 784-256-10", s)
			}
			out.Index(i).SetInt(int64(n))
		}
		f.Set(out)
	default:
		return fmt.Errorf("unsupported field type %s", f.Type())
	}
	return nil
}
