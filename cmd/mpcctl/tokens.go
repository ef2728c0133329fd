package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func newTokensCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "Create, list and revoke API tokens"}
	cmd.AddCommand(newTokensCreateCmd(g), newTokensListCmd(g), newTokensRevokeCmd(g))
	return cmd
}

func newTokensCreateCmd(g *globals) *cobra.Command {
	var role, name string
	create := &cobra.Command{
		Use:   "create --role signer|admin --name NAME",
		Short: "Create an API token (printed once; the coordinator keeps only its hash)",
		Long: `Creates an API token. A signer token may only call Sign (for wallet
backends); an admin token may call everything. The token is printed once:
store it in a file readable only by the service that uses it, and pass that
file with --token-file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTokensCreate(cmd, g, role, name)
		},
	}
	create.Flags().StringVar(&role, "role", "", "signer or admin (required)")
	create.Flags().StringVar(&name, "name", "", "label, e.g. the wallet backend that uses it (required)")
	_ = create.MarkFlagRequired("role")
	_ = create.MarkFlagRequired("name")
	return create
}

func runTokensCreate(cmd *cobra.Command, g *globals, role, name string) error {
	var r mpcv1.TokenRole
	switch role {
	case "signer":
		r = mpcv1.TokenRole_TOKEN_ROLE_SIGNER
	case "admin":
		r = mpcv1.TokenRole_TOKEN_ROLE_ADMIN
	default:
		return fmt.Errorf("--role must be signer or admin, got %q", role)
	}
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	resp, err := c.CreateToken(ctx, &mpcv1.CreateTokenRequest{Role: r, Name: name})
	if err != nil {
		return err
	}
	if g.asJSON {
		out := tokenJSON(resp.GetInfo())
		out["token"] = resp.GetToken()
		return printJSON(cmd.OutOrStdout(), out)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s\n", resp.GetToken())
	fmt.Fprintf(cmd.ErrOrStderr(), "created %s token %q (id %s); it is shown only now\n", role, name, resp.GetInfo().GetId())
	return nil
}

func newTokensListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List API tokens (never the tokens themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return listItems(cmd, g, func(ctx context.Context, c mpcv1.AdminServiceClient) ([]*mpcv1.TokenInfo, error) {
				resp, err := c.ListTokens(ctx, &mpcv1.ListTokensRequest{})
				return resp.GetTokens(), err
			}, tokenJSON, printTokens)
		},
	}
}

// printTokens is the text of 'tokens list': a table.
func printTokens(w io.Writer, tokens []*mpcv1.TokenInfo) error {
	tw := newTable(w, "ID\tNAME\tROLE\tCREATED\tREVOKED")
	for _, t := range tokens {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", t.GetId(), t.GetName(), roleName(t.GetRole()), fmtTime(t.GetCreatedAt().AsTime()), t.GetRevoked())
	}
	return tw.Flush()
}

func newTokensRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token (by the id 'tokens list' shows)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTokensRevoke(cmd, g, args[0])
		},
	}
}

func runTokensRevoke(cmd *cobra.Command, g *globals, id string) error {
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	resp, err := c.RevokeToken(ctx, &mpcv1.RevokeTokenRequest{Id: id})
	if err != nil {
		return err
	}
	if g.asJSON {
		return printJSON(cmd.OutOrStdout(), tokenJSON(resp.GetInfo()))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "token %s (%q) revoked\n", resp.GetInfo().GetId(), resp.GetInfo().GetName())
	return nil
}

func roleName(r mpcv1.TokenRole) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "TOKEN_ROLE_"))
}

func tokenJSON(t *mpcv1.TokenInfo) map[string]any {
	return map[string]any{"id": t.GetId(), "name": t.GetName(), "role": roleName(t.GetRole()), "created_at": t.GetCreatedAt().AsTime(), "revoked": t.GetRevoked()}
}
