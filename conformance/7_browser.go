package conformance

func init() {
	register("7", "Typical flows",
		// §7 Keygen, from a browser: browser wallets are the original relay's clients.
		&Case{
			ID: "7/browser-keygen-flow",
			Requirement: "A keygen-shaped flow (§7: 3 parties; sessionCreate, sessionSignup, a broadcast and a peer-to-peer round with non-ASCII and falsy JSON bodies, sessionClosed) " +
				"runs through the relay from headless Chromium's own WebSocket, driven by the kit's JavaScript client from a page of another origin.",
			Level: Must, Labels: []string{"browser", "flows"},
			Run: func(t *T) {
				b := t.Browser()
				t.BrowserFlow(b, t.servePage().URL(), "keygenFlow", t.url)
			},
		},
		// §7 Sign, from a browser.
		&Case{
			ID: "7/browser-sign-flow",
			Requirement: "A sign-shaped flow (§7: 2 of 3; a sign session carrying the message, Notify.proposal, Session.join reading the value, sessionSignup at t+1, " +
				"a peer-to-peer round, sessionClosed, Notify.signed to the member that did not sign) runs through the relay from headless Chromium's own WebSocket.",
			Level: Must, Labels: []string{"browser", "flows"},
			Run: func(t *T) {
				b := t.Browser()
				t.BrowserFlow(b, t.servePage().URL(), "signFlow", t.url)
			},
		},
	)
}
