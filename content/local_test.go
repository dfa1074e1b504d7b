package content_test

import (
	"testing"

	"github.com/berth-project/berth/content"
	"github.com/berth-project/berth/content/contenttest"
)

func TestLocal(t *testing.T) {
	contenttest.Run(t, func(t *testing.T, root string) content.Store {
		s, err := content.NewLocal(root)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
