package bind

import (
	"reflect"
	"strings"

	"github.com/clipia/apiguard/errorsx"
	"github.com/go-playground/validator/v10"
)

// FromValidationErrors turns go-playground/validator failures into one 400
// invalid_request error. The first failing field (validator reports fields in
// struct order) becomes param and the message; the whole list stays in the
// cause for the log. The param is the field's namespace without the top-level
// struct name, so it is the JSON path when the validator was set up with a
// tag-name function that returns JSON names ([NewValidator] does).
// Errors from validate.Var, which have no field, get no param and a message
// about "value".
func FromValidationErrors(ve validator.ValidationErrors) *errorsx.Error {
	if len(ve) == 0 {
		return errorsx.InvalidRequest()
	}
	fe := ve[0]
	param := FieldPath(fe)
	name := param
	if name == "" {
		// validate.Var on a bare value: no field to name.
		name = "value"
	}
	return errorsx.InvalidRequest().WithParam(param).WithMessage(FieldMessage(name, fe)).WithCause(ve)
}

// FieldPath returns the path of a failing field as clients name it: the
// namespace without its top-level struct, e.g. "input.duration" or
// "items[2].name".
func FieldPath(fe validator.FieldError) string {
	ns := fe.Namespace()
	if i := strings.IndexByte(ns, '.'); i >= 0 {
		return ns[i+1:]
	}
	return fe.Field()
}

// FieldMessage returns a sentence a person understands for one failing
// validator tag on the field named name, e.g. "prompt is required" or
// "duration must be at most 60". Tags without a specific sentence get a
// generic one that still names the field and never echoes its value.
func FieldMessage(name string, fe validator.FieldError) string {
	p := fe.Param()
	kind := fe.Kind()
	if kind == reflect.Pointer {
		if t := fe.Type(); t != nil && t.Kind() == reflect.Pointer {
			kind = t.Elem().Kind()
		}
	}
	switch fe.Tag() {
	case "required", "required_if", "required_unless", "required_with", "required_with_all",
		"required_without", "required_without_all":
		return name + " is required"
	case "excluded_if", "excluded_unless", "excluded_with", "excluded_with_all",
		"excluded_without", "excluded_without_all", "isdefault":
		return name + " must not be set here"
	case "min", "gte":
		return name + " must be at least " + amount(kind, p)
	case "max", "lte":
		return name + " must be at most " + amount(kind, p)
	case "gt":
		return name + " must be greater than " + amount(kind, p)
	case "lt":
		return name + " must be less than " + amount(kind, p)
	case "len":
		return name + " must be exactly " + amount(kind, p)
	case "eq":
		return name + " must be " + p
	case "ne":
		return name + " must not be " + p
	case "oneof":
		return name + " must be one of: " + strings.Join(strings.Fields(p), ", ")
	case "email":
		return name + " must be a valid email address"
	case "url", "http_url", "https_url", "uri", "url_encoded":
		return name + " must be a valid URL"
	case "uuid", "uuid3", "uuid4", "uuid5", "uuid_rfc4122", "uuid3_rfc4122", "uuid4_rfc4122", "uuid5_rfc4122":
		return name + " must be a valid UUID"
	case "alpha":
		return name + " must contain only letters"
	case "alphanum":
		return name + " must contain only letters and digits"
	case "alphaunicode", "alphanumunicode":
		return name + " must contain only letters and digits"
	case "numeric", "number":
		return name + " must be a number"
	case "hexadecimal":
		return name + " must be hexadecimal"
	case "boolean":
		return name + " must be true or false"
	case "lowercase":
		return name + " must be lowercase"
	case "uppercase":
		return name + " must be uppercase"
	case "ascii", "printascii":
		return name + " must contain only ASCII characters"
	case "contains", "containsany":
		return name + " must contain " + quoteParam(p)
	case "excludes", "excludesall":
		return name + " must not contain " + quoteParam(p)
	case "startswith":
		return name + " must start with " + quoteParam(p)
	case "endswith":
		return name + " must end with " + quoteParam(p)
	case "unique":
		return name + " must not contain duplicates"
	case "datetime":
		return name + " must be a date/time in the format " + p
	case "ip", "ip_addr":
		return name + " must be a valid IP address"
	case "ipv4", "ip4_addr":
		return name + " must be a valid IPv4 address"
	case "ipv6", "ip6_addr":
		return name + " must be a valid IPv6 address"
	case "cidr", "cidrv4", "cidrv6":
		return name + " must be a valid CIDR network"
	case "hostname", "hostname_rfc1123", "fqdn":
		return name + " must be a valid host name"
	case "e164":
		return name + " must be a phone number in E.164 format"
	case "json":
		return name + " must be valid JSON"
	case "jwt":
		return name + " must be a valid JWT"
	case "base64", "base64url", "base64rawurl":
		return name + " must be valid base64"
	case "iso3166_1_alpha2", "iso3166_1_alpha3", "iso3166_1_alpha_numeric":
		return name + " must be a valid country code"
	case "bcp47_language_tag":
		return name + " must be a valid language tag"
	case "timezone":
		return name + " must be a valid time zone"
	case "semver":
		return name + " must be a semantic version"
	case "eqfield":
		return name + " must equal " + p
	case "nefield":
		return name + " must differ from " + p
	case "gtfield", "gtefield", "ltfield", "ltefield":
		return name + " is out of range relative to " + p
	}
	return name + " is not valid"
}

// amount phrases a limit for the kind of value it bounds: a length for
// strings, a count for lists and maps, the number itself otherwise.
func amount(kind reflect.Kind, p string) string {
	switch kind {
	case reflect.String:
		if p == "1" {
			return "1 character long"
		}
		return p + " characters long"
	case reflect.Slice, reflect.Array, reflect.Map:
		if p == "1" {
			return "1 item"
		}
		return p + " items"
	}
	return p
}

func quoteParam(p string) string { return "\"" + p + "\"" }
