package spell

import "testing"

func TestNearestSuggestsCloseWordsOnly(t *testing.T) {
	keys := []string{"subscribe", "publish", "history_read"}
	for _, c := range []struct{ word, want string }{
		{"subcribe", "subscribe"}, {"publsh", "publish"}, {"history-read", "history_read"}, {"colour", ""},
	} {
		if got := Nearest(c.word, keys, 3); got != c.want {
			t.Errorf("Nearest(%q) = %q, want %q", c.word, got, c.want)
		}
	}
	if Distance("kitten", "sitting") != 3 {
		t.Error("distance")
	}
}
