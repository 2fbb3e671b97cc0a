package client_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/vip-messages/api/client"
)

// Walk every message of a window, page by page, newest first. The client signs
// each request as it sends it and follows nextCursor until mayHaveMore is false.
func Example() {
	api := exampleAPI() // stands for a stage URL, e.g. https://abc123.execute-api.us-east-1.amazonaws.com/prod
	defer api.Close()

	c := client.New(api.URL, "demo-key-0001", "demo-secret-please-change")
	q := client.Query{WorkspaceID: "ws-demo", MediumID: "ch-demo", From: "2026-06-01", To: "2026-06-07", Limit: 2}
	for item, err := range c.All(context.Background(), q) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(item.Date, item.UserName, item.Labels, item.Text)
	}
	// Output:
	// 2026-06-07T09:30:00.000Z Grace Lee [frustrated] still waiting for my refund
	// 2026-06-05T18:02:11.250Z Ben Carter [] thanks, that worked
	// 2026-06-01T07:00:00.000Z Aiko Tanaka [urgent] login broken again
}

// One page at a time: pass NextCursor back as Before.
func ExampleClient_List() {
	api := exampleAPI()
	defer api.Close()

	c := client.New(api.URL, "demo-key-0001", "demo-secret-please-change")
	q := client.Query{WorkspaceID: "ws-demo", MediumID: "ch-demo", From: "2026-06-01", To: "2026-06-07", Limit: 2}
	page, err := c.List(context.Background(), q)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(page.Returned, page.MayHaveMore, page.NextCursor)

	q.Before = page.NextCursor
	if page, err = c.List(context.Background(), q); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(page.Returned, page.MayHaveMore, page.NextCursor == "")
	// Output:
	// 2 true v1.cGFnZS0y
	// 1 false true
}

// Errors of the API are *APIError values that match a sentinel per status; a
// 422 carries every query-string violation.
func ExampleAPIError() {
	api := exampleAPI()
	defer api.Close()

	c := client.New(api.URL, "demo-key-0001", "demo-secret-please-change")
	_, err := c.List(context.Background(), client.Query{WorkspaceID: "ws-demo", MediumID: "ch-demo", Limit: 500})
	var apiErr *client.APIError
	if errors.Is(err, client.ErrInvalidQuery) && errors.As(err, &apiErr) {
		for _, v := range apiErr.Violations {
			fmt.Println(v.Path, v.Type)
		}
	}

	wrong := client.New(api.URL, "demo-key-0001", "not-the-secret")
	_, err = wrong.List(context.Background(), client.Query{WorkspaceID: "ws-demo", MediumID: "ch-demo", From: "2026-06-01", To: "2026-06-07"})
	fmt.Println(errors.Is(err, client.ErrUnauthorized), err)
	// Output:
	// [from] any.required
	// [to] any.required
	// [limit] number.max
	// true vip-messages: 401 Unauthorized: invalid credentials
}

// exampleAPI is a stand-in for the API with canned answers: it checks the
// signature as the API does (version 2: HMAC-SHA256, keyed by the secret, of
// "v2", GET, the path, the canonical query and x-date, one per line) and
// serves a window of three messages in pages of two. A real stage also checks
// that x-date is fresh; the tests of this package run against the real handler.
func exampleAPI() *httptest.Server {
	pages := map[string]string{
		"": `{"items":[
			{"timestamp":1780824600000,"date":"2026-06-07T09:30:00.000Z","conversationId":"conv-012","userName":"Grace Lee","kind":"text","source":"line","labels":["frustrated"],"customLabelIds":[],"text":"still waiting for my refund"},
			{"timestamp":1780682531250,"date":"2026-06-05T18:02:11.250Z","conversationId":"conv-031","userName":"Ben Carter","kind":"text","source":"web","labels":[],"customLabelIds":["cl-billing"],"text":"thanks, that worked"}],
			"returned":2,"mayHaveMore":true,"nextCursor":"v1.cGFnZS0y"}`,
		"v1.cGFnZS0y": `{"items":[
			{"timestamp":1780297200000,"date":"2026-06-01T07:00:00.000Z","conversationId":"conv-007","userName":"Aiko Tanaka","kind":"text","source":"line","labels":["urgent"],"customLabelIds":[],"text":"login broken again"}],
			"returned":1,"mayHaveMore":false}`,
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		mac := hmac.New(sha256.New, []byte("demo-secret-please-change"))
		io.WriteString(mac, "v2\nGET\n/vip-messages\n"+client.CanonicalQuery(r.URL.Query())+"\n"+r.Header.Get("x-date"))
		if r.Header.Get("x-api-key") != "demo-key-0001" || r.Header.Get("x-signature") != "v2="+hex.EncodeToString(mac.Sum(nil)) {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"message":"invalid credentials"}`)
			return
		}
		q := r.URL.Query()
		if q.Get("from") == "" && q.Get("to") == "" && q.Get("limit") == "500" { // the one bad query of ExampleAPIError
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"error":[
				{"message":"\"from\" is required","path":["from"],"type":"any.required","context":{"key":"from","label":"from"}},
				{"message":"\"to\" is required","path":["to"],"type":"any.required","context":{"key":"to","label":"to"}},
				{"message":"\"limit\" must be less than or equal to 200","path":["limit"],"type":"number.max","context":{"key":"limit","label":"limit","limit":200,"value":500}}]}`)
			return
		}
		page, ok := pages[q.Get("before")]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"message":"\"before\" is not a nextCursor of this API nor an epoch-ms timestamp"}`)
			return
		}
		io.WriteString(w, page)
	}))
}
