package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/lianlu/lianlu"
)

// CommandSource is the source of events that Lianlu's own commands append
// (lianlu.CommandSource): no outside caller can write it, so the ids the
// commands choose for their events, predictable as many are
// ("order/391/placed"), cannot be taken before them.
const CommandSource = lianlu.CommandSource

// appendCommandEvent appends one event describing a command's effect in the
// command's transaction. Its id is random unless idKey is given, in which
// case it is deterministic, so that a retried command cannot append twice.
func appendCommandEvent(ctx context.Context, tx *Tx, typ, subject, department, idKey string, data any) (lianlu.Event, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return lianlu.Event{}, fmt.Errorf("%s: encode event data: %w", typ, err)
	}
	id := idKey
	if id == "" {
		r := make([]byte, 16)
		rand.Read(r)
		id = hex.EncodeToString(r)
	}
	e := lianlu.Event{
		ID: id, Source: CommandSource, Type: typ, Subject: subject, Department: department,
		Actor: actorOf(ctx), CorrelationID: lianlu.RequestIDFromContext(ctx), Time: tx.now, Data: b,
	}
	res, err := AppendEvents(ctx, tx, []lianlu.Event{e})
	if err != nil {
		return lianlu.Event{}, fmt.Errorf("%s: append event: %w", typ, err)
	}
	return res[0].Event, nil
}
