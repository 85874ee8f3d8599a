package sqlstore

import (
	"context"
	"fmt"

	"github.com/lianlu/lianlu"
)

// insertEventsSQLite inserts events one row at a time through one statement
// prepared for the transaction. On SQLite this is the fastest way: the
// statement is parsed once, and LastInsertId gives the seq without the
// temporary table that RETURNING builds. A row that hits the (source, id)
// constraint is a duplicate, of an earlier event or of one earlier in this
// batch, and is read back in the same transaction.
func insertEventsSQLite(ctx context.Context, tx *Tx, rs []lianlu.AppendResult) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO events (`+insertEventColumns+`) VALUES `+insertEventRow+` ON CONFLICT (source, id) DO NOTHING`)
	if err != nil {
		return fmt.Errorf("prepare insert events: %w", err)
	}
	defer stmt.Close()
	d := tx.db.dialect
	// The driver starts a goroutine per statement to interrupt it when ctx
	// is done; for rows of a few microseconds each that costs more than the
	// row. ctx is still checked between rows.
	execCtx := context.WithoutCancel(ctx)
	for i := range rs {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := stmt.ExecContext(execCtx, eventArgs(d, rs[i].Event)...)
		if err != nil {
			return fmt.Errorf("insert event: %w", mapInsertError(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			if rs[i].Event.Seq, err = res.LastInsertId(); err != nil {
				return err
			}
			continue
		}
		stored, err := findEventByKey(ctx, tx, eventKey{rs[i].Event.Source, rs[i].Event.ID})
		if err != nil {
			return err
		}
		rs[i] = lianlu.AppendResult{Event: stored, Duplicate: true}
	}
	return nil
}
