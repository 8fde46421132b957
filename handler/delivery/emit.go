package delivery

import (
	"context"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// emit makes an operational event happen: counted, handed to the
// Observer (Caddy's events app), logged, and queued for the callbacks that
// receive it, all sharing one message id. Queueing is best effort: the
// event already went to the log and to Caddy, and a store that fails here
// is failing the deliveries too.
func (d *Dispatcher) emit(ev OpEvent, log *zap.Logger) {
	d.Metrics.Event(ev.Agent, ev.Type)
	if d.Observer != nil {
		d.Observer.OperationalEvent(ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), handler.StoreTimeout)
	defer cancel()
	list, err := d.Registry.Subscribers(ctx, ev.Agent, ev.Type, ev.Callback.ID)
	if err != nil {
		log.Warn("finding the receivers of an operational event", zap.String("event_type", ev.Type), handler.StoreErrField(err))
		return
	}
	if len(list) == 0 {
		return
	}
	var body []byte
	list = recipients(ctx, list, occurrence{typ: ev.Type, body: func() ([]byte, error) {
		var err error
		body, err = ev.Payload()
		return body, err
	}}, d.Registry)
	if len(list) == 0 {
		return
	}
	if body == nil {
		if body, err = ev.Payload(); err != nil {
			log.Error("rendering an operational event", zap.Error(err))
			return
		}
	}
	msg := "msg_" + handler.NewID()
	ds := make([]*store.Delivery, 0, len(list))
	for _, cb := range list {
		dl := &store.Delivery{
			ID:         "dlv_" + handler.NewID(),
			MessageID:  msg,
			Agent:      ev.Agent,
			CallbackID: cb.ID,
			EventType:  ev.Type,
			Payload:    body,
			// An event of this installation's own: the first hop.
			Hops: 1,
		}
		if ev.Delivery != nil {
			dl.TaskID, dl.ChatID = ev.Delivery.TaskID, ev.Delivery.ChatID
		}
		ds = append(ds, dl)
	}
	if err := d.Store.EnqueueDeliveries(ctx, ds); err != nil {
		log.Warn("queueing an operational event", zap.String("event_type", ev.Type), handler.StoreErrField(err))
		return
	}
	log.Debug("operational event queued", zap.String("event_type", ev.Type), zap.String("message_id", msg), zap.Int("deliveries", len(ds)))
}
