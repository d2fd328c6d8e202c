package pgstore

import (
	"errors"

	"github.com/clipia/apiguard/errorsx"
	"github.com/jackc/pgx/v5/pgconn"
)

// DataException maps err, when it is (or wraps) a PostgreSQL data exception
// (SQLSTATE class 22: a value the database cannot take), to the row a client
// should see, with err as its cause; it returns nil for any other error.
//
// A data exception is permanent: the same request fails the same way on a
// retry, so it must never be answered with a retryable 503. A value that can
// only have come from the request (a string holding U+0000 or bytes that are
// not UTF-8, a string too long for its column, a number out of range, a
// malformed number, date or time) is 400 invalid_request; any other data
// exception (a division by zero, a null where the statement needs a value)
// is a bug of the statement: 500 internal_error.
//
// Use it where an application turns database errors into responses:
//
//	if e := pgstore.DataException(err); e != nil {
//		return e
//	}
//	return errorsx.ServiceUnavailable().WithCause(err)
func DataException(err error) *errorsx.Error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) != 5 || pgErr.Code[:2] != "22" {
		return nil
	}
	switch pgErr.Code {
	case "22001", // string_data_right_truncation
		"22003", // numeric_value_out_of_range
		"22007", // invalid_datetime_format
		"22008", // datetime_field_overflow
		"22015", // interval_field_overflow
		"22021", // character_not_in_repertoire: U+0000, bytes that are not UTF-8
		"22025", // invalid_escape_sequence
		"22026", // string_data_length_mismatch
		"22P02", // invalid_text_representation
		"22P05", // untranslatable_character: \u0000 in jsonb
		"2200N", // invalid_xml_content
		"22030", // duplicate_json_object_key_value
		"22032", // invalid_json_text
		"22034": // more_than_one_sql_json_item
		return errorsx.InvalidRequest().
			WithMessage("A value in the request cannot be stored. Change it and send the request again.").
			WithCause(err)
	}
	return errorsx.Internal().WithCause(err)
}
