package delivery

import "context"

// origin returns this installation's id, which every delivery carries
// (handler.HeaderOrigin). It is read from the store once: it never
// changes.
func (d *Dispatcher) origin(ctx context.Context) (string, error) {
	if id := d.originID.Load(); id != nil {
		return *id, nil
	}
	id, err := d.Store.InstallationID(ctx)
	if err != nil {
		return "", err
	}
	d.originID.Store(&id)
	return id, nil
}
