package pgstore_test

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/pgstore"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The application's own tables.
const exampleSchema = `
CREATE TABLE IF NOT EXISTS example_accounts (id text PRIMARY KEY, balance int NOT NULL CHECK (balance >= 0));
CREATE TABLE IF NOT EXISTS example_charges (id bigserial PRIMARY KEY, account text NOT NULL, amount int NOT NULL);`

// Exactly once with PostgreSQL: the guard claims the key, opens a
// transaction for the handler, and commits the handler's writes together
// with the stored response. A retry replays the response; it never
// charges again, even when the first attempt's process crashed.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL")) // postgres://app@127.0.0.1:5432/app
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	store, err := pgstore.New(pool, pgstore.Config{}) // table apiguard_idempotency
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close() // stops the background sweeper

	// Create the table, or apply schema.sql with your migrations.
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	// Hand the store to the idempotency guard of your front door
	// (Echo, net/http): it is an idempotency.TxStore, so the guard runs
	// each keyed request in a transaction.
	cfg := idempotency.Config{Store: store}
	_ = cfg

	http.HandleFunc("POST /v1/charges", createCharge())
}

// createCharge debits an account and records the charge in the request's
// transaction: both commit with the stored response, or neither does.
func createCharge() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		tx, ok := pgstore.TxFromContext(ctx)
		if !ok {
			// Not guarded (no Idempotency-Key): this route requires one.
			http.Error(w, `{"error":"Idempotency-Key required"}`, http.StatusBadRequest)
			return
		}
		var in struct {
			Account string `json:"account"`
			Amount  int    `json:"amount"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Amount <= 0 {
			http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		// A conditional update: concurrent charges never take the balance
		// below zero.
		tag, err := tx.Exec(ctx, `UPDATE example_accounts SET balance = balance - $2
			WHERE id = $1 AND balance >= $2`, in.Account, in.Amount)
		if err != nil {
			http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError) // 5xx: rolled back, not stored
			return
		}
		if tag.RowsAffected() == 0 {
			http.Error(w, `{"error":"insufficient funds"}`, http.StatusPaymentRequired) // 4xx: stored, replayed
			return
		}
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO example_charges (account, amount) VALUES ($1, $2) RETURNING id`,
			in.Account, in.Amount).Scan(&id); err != nil {
			http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "account": in.Account, "amount": in.Amount})
	}
}
