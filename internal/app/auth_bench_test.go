package app_test

import (
	"context"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/store/storetest"
)

func BenchmarkAuthenticate(b *testing.B) {
	e := apptest.New(b, storetest.SQLite(b))
	e.User("bench", "610100", "analyst")
	c := e.Login("bench")
	tok := c.HTTP.Jar.Cookies(mustURL(e.Server.URL))[0].Value
	ctx := context.Background()
	for b.Loop() {
		if _, err := e.App.IAM.Authenticate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
