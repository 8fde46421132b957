package caddymodule

import (
	"encoding/json"
	"fmt"
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/agenthook/agenthook/signing"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "agenthook",
		Usage: "keygen|status|tasks|deliveries|retry|recover|callbacks [<args>]",
		Short: "agenthook tools: signing keys, and the state of a running agenthook",
		Long: `
agenthook status, tasks, deliveries, retry, recover and callbacks ask a
running Caddy, through its admin API (--address, or the admin address of
--config, else localhost:2019), about queued tasks and deliveries, send
dead letters again, and turn callbacks on and off. Each prints a table,
or the admin API's JSON with --json. See caddy agenthook <command> --help.

agenthook keygen prints a new signing key as a small JSON key file, like
the private-key file UPTIQ users download for their agent webhooks.

--kind hmac (the default) gives a 32-byte secret in two forms: "secret",
to use as an HMAC key for x-signature (auth hmac / sign hmac), and
"whsec", the same bytes as a Standard Webhooks secret (auth
standard_webhooks / sign standard_webhooks).

--kind ed25519 gives a whsk_ private key, to sign callbacks with
Standard Webhooks v1a, and its whpk_ public key for receivers.

Keep the output secret; save it with: caddy agenthook keygen > key.json`,
		CobraFunc: func(cmd *cobra.Command) {
			keygen := &cobra.Command{
				Use:   "keygen [--kind hmac|ed25519]",
				Short: "Print a new signing key as JSON",
				Args:  cobra.NoArgs,
				RunE: func(cmd *cobra.Command, _ []string) error {
					kind, _ := cmd.Flags().GetString("kind")
					kf, err := signing.NewKeyFile(kind)
					if err != nil {
						return err
					}
					enc := json.NewEncoder(os.Stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(kf)
				},
			}
			keygen.Flags().String("kind", "hmac", "hmac or ed25519")
			cmd.AddCommand(keygen)
			cmd.AddCommand(adminCommands()...)
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 {
					return cmd.Help()
				}
				return fmt.Errorf("unknown agenthook command %q; try: caddy agenthook --help", args[0])
			}
		},
	})
}
