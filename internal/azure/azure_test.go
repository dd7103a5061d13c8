package azure

import "testing"

func TestWorkspaceURL(t *testing.T) {
	ws := Workspace{SubscriptionID: "sub-1", ResourceGroup: "rg", Name: "ws", Cloud: Clouds["china"]}
	const id = "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
	if got := ws.ID(); got != id {
		t.Fatalf("ID() = %q, want %q", got, id)
	}
	for _, tc := range []struct{ sub, want string }{
		{"", "https://management.chinacloudapi.cn" + id + "?api-version=" + APIVersion},
		{"jobs/j1", "https://management.chinacloudapi.cn" + id + "/jobs/j1?api-version=" + APIVersion},
		{"/datastores?isDefault=true", "https://management.chinacloudapi.cn" + id + "/datastores?isDefault=true&api-version=" + APIVersion},
	} {
		if got := ws.URL(tc.sub); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.sub, got, tc.want)
		}
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Status: 404, Code: "ResourceNotFound", Message: "no job j1", Method: "GET", URL: "https://x/jobs/j1?api-version=1"}
	if got, want := e.Error(), "ResourceNotFound: no job j1 (GET https://x/jobs/j1 -> 404)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
