package messages

// MessagesTokenForTest lets external tests build the cursor of an arbitrary sort key,
// as a crafted client cursor would be.
func MessagesTokenForTest(sk string) string { return Position{sk: sk}.Token() }

// DecodeItem is the page's item decoder, for its table test.
var DecodeItem = decodeItem
