package status

// Forget removes a tenant's rows: in distributed mode a tenant that moved
// to another member is shown (and its age measured) there, not here.
func (b *Board) Forget(tenant string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for key, p := range b.parts {
		if p.tenant == tenant {
			delete(b.parts, key)
		}
	}
}
