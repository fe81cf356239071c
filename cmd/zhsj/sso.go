package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"zhsj/internal/app"
	"zhsj/internal/config"
	"zhsj/internal/iam"
	"zhsj/internal/sso"
)

func init() { extraCommands = append(extraCommands, ssoCmd) }

// withSSO opens the application and runs f with its sso module (command-line operations are
// audited as "system").
func withSSO(cmd *cobra.Command, f func(ctx context.Context, s *sso.Service) error) error {
	ctx := context.Background()
	a, err := openApp(ctx, cmd)
	if err != nil {
		return err
	}
	defer a.DB.Close()
	s := app.SSOOf(a)
	if s == nil {
		return errors.New("单点登录模块未启用")
	}
	return f(iam.WithPrincipal(ctx, iam.System()), s)
}

func ssoCmd() *cobra.Command {
	c := &cobra.Command{Use: "sso", Short: "统一身份：接入应用（OIDC、CAS、票据交换）、合作平台连接、签名密钥"}
	client := &cobra.Command{Use: "client", Short: "接入应用（依赖本系统登录的应用）"}
	client.AddCommand(ssoClientAdd(), ssoClientList(), ssoClientDisable())
	conn := &cobra.Command{Use: "connector", Short: "合作平台连接（本系统信任的外部身份平台）"}
	conn.AddCommand(ssoConnectorList(), ssoConnectorApply())
	keys := &cobra.Command{Use: "keys", Short: "OpenID 签名密钥"}
	rotate := &cobra.Command{Use: "rotate", Short: "立即轮换签名密钥（旧密钥 24 小时内仍可验签）", RunE: func(cmd *cobra.Command, args []string) error {
		return withSSO(cmd, func(ctx context.Context, s *sso.Service) error {
			kid, err := s.RotateKeys(ctx, nil, "命令行轮换")
			if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "已启用新签名密钥 %s\n", kid)
			}
			return err
		})
	}}
	config.AddFlags(rotate.Flags())
	keys.AddCommand(rotate)
	c.AddCommand(client, conn, keys)
	return c
}

func ssoClientAdd() *cobra.Command {
	var in sso.ClientInput
	var secretStdin bool
	c := &cobra.Command{
		Use:   "add",
		Short: "登记接入应用",
		Long: `登记一个依赖本系统登录的应用：
  OpenID Connect：zhsj sso client add --protocol oidc --id ID --redirect-uri URI [--redirect-uri …] [--backchannel-logout-uri URI] [--secret-stdin]
      带 --secret-stdin 为机密客户端（密钥从标准输入读取，至少 16 个字符）；不带则为公开客户端，必须使用 PKCE。
  CAS：            zhsj sso client add --protocol cas --service URL-PREFIX [--id ID]
  票据交换：        zhsj sso client add --protocol ticket --id APPID --service URL-PREFIX [--logout-uri URI] [--sign-alg hmac-sm3|sm3|md5] [--secret-stdin]
      不带 --secret-stdin 时生成密钥并只显示这一次。`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if secretStdin {
				s, err := readPassword(cmd.InOrStdin())
				if err != nil {
					return errors.New("标准输入中没有密钥")
				}
				in.Secret = s
			}
			in.Confidential = in.Secret != ""
			return withSSO(cmd, func(ctx context.Context, s *sso.Service) error {
				cl, secret, err := s.CreateClient(ctx, nil, in)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "已登记%s应用 %s（%s）\n", cl.ProtocolName, cl.ClientID, cl.Name)
				switch {
				case cl.Protocol == sso.ProtoOIDC && !cl.Confidential:
					fmt.Fprintln(out, "公开客户端：无密钥，授权请求必须携带 PKCE（S256）。")
				case secret != "" && !secretStdin:
					fmt.Fprintf(out, "密钥（只显示这一次，请妥善交给对方）：%s\n", secret)
				}
				return nil
			})
		},
	}
	f := c.Flags()
	config.AddFlags(f)
	f.StringVar(&in.Protocol, "protocol", "", "协议 oidc | cas | ticket（必填）")
	f.StringVar(&in.ClientID, "id", "", "应用编号（client_id / appId；CAS 可省略）")
	f.StringVar(&in.Name, "name", "", "应用名称")
	f.StringArrayVar(&in.RedirectURIs, "redirect-uri", nil, "OIDC 回调地址，可重复")
	f.StringArrayVar(&in.PostLogoutURIs, "post-logout-redirect-uri", nil, "OIDC 退出后跳转地址，可重复")
	f.StringVar(&in.BackchannelLogoutURI, "backchannel-logout-uri", "", "OIDC 后端退出通知地址")
	f.StringArrayVar(&in.Scopes, "scope", nil, "允许的授权范围（openid、profile、phone、offline_access），可重复")
	f.StringVar(&in.Service, "service", "", "CAS / 票据交换：允许的服务地址前缀")
	f.StringVar(&in.LogoutURI, "logout-uri", "", "票据交换：对方的退出通知接口")
	f.StringVar(&in.SignAlg, "sign-alg", "", "票据交换签名算法 hmac-sm3（默认）| sm3 | md5")
	f.BoolVar(&secretStdin, "secret-stdin", false, "从标准输入读取密钥（OIDC 机密客户端、票据交换）")
	return c
}

func ssoClientList() *cobra.Command {
	c := &cobra.Command{Use: "list", Short: "列出接入应用", RunE: func(cmd *cobra.Command, args []string) error {
		return withSSO(cmd, func(ctx context.Context, s *sso.Service) error {
			cs, err := s.ListClients(ctx, "")
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(w, "编号\t协议\t名称\t地址\t状态")
			for _, c := range cs {
				addr := c.ServicePrefix
				if c.Protocol == sso.ProtoOIDC {
					addr = strings.Join(c.RedirectURIs, " ")
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.ClientID, c.Protocol, c.Name, addr, c.Status)
			}
			return w.Flush()
		})
	}}
	config.AddFlags(c.Flags())
	return c
}

func ssoClientDisable() *cobra.Command {
	var id string
	c := &cobra.Command{Use: "disable", Short: "停用接入应用（其令牌全部作废）", RunE: func(cmd *cobra.Command, args []string) error {
		return withSSO(cmd, func(ctx context.Context, s *sso.Service) error {
			cs, err := s.ListClients(ctx, "")
			if err != nil {
				return err
			}
			for _, c := range cs {
				if c.ClientID == id {
					if err := s.SetClientStatus(ctx, nil, c.ID, "disabled"); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "已停用 %s\n", id)
					return nil
				}
			}
			return fmt.Errorf("接入应用 %s 不存在", id)
		})
	}}
	config.AddFlags(c.Flags())
	c.Flags().StringVar(&id, "id", "", "应用编号")
	return c
}

func ssoConnectorList() *cobra.Command {
	c := &cobra.Command{Use: "list", Short: "列出合作平台连接", RunE: func(cmd *cobra.Command, args []string) error {
		return withSSO(cmd, func(ctx context.Context, s *sso.Service) error {
			cs, err := s.ListConnectors(ctx, iam.System())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(w, "编号\t平台\t区划\t类型\t绑定规则\t状态")
			for _, c := range cs {
				state := "待配置"
				if c.Enabled {
					state = "启用"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, c.RegionCode, c.Kind, c.BindingRule, state)
			}
			return w.Flush()
		})
	}}
	config.AddFlags(c.Flags())
	return c
}

// connectorFile is one entry of `zhsj sso connector apply --file`: the API's fields, with the
// secret given inline or (better) named by an environment variable.
type connectorFile struct {
	sso.ConnectorInput
	SecretEnv string `json:"secret_env"`
}

func ssoConnectorApply() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "apply",
		Short: "按配置文件新增或更新合作平台连接（可重复执行）",
		Long: `读取 JSON 数组，每项为一个合作平台连接（字段同管理接口 /api/v1/sso/connectors）：
  [{"id":"baoji","name":"宝鸡市一体化平台","kind":"ticket","region_code":"610300","enabled":true,
    "binding_rule":"phone","secret_env":"ZHSJ_SSO_BAOJI_SECRET",
    "config":{"authorize_url":"…","validate_url":"…","logout_url":"…","app_id":"zhsj","sign_alg":"hmac-sm3"}}]
密钥可用 "secret" 直接给出，或用 "secret_env" 指定保存密钥的环境变量。已存在的连接被更新，未出现的连接保持不变。`,
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			var items []connectorFile
			if err := json.Unmarshal(raw, &items); err != nil {
				return fmt.Errorf("配置文件 %s 不是有效的 JSON 数组：%w", file, err)
			}
			return withSSO(cmd, func(ctx context.Context, s *sso.Service) error {
				for i, it := range items {
					in := it.ConnectorInput
					if it.SecretEnv != "" {
						v := os.Getenv(it.SecretEnv)
						if v == "" {
							return fmt.Errorf("第 %d 项（%s）：环境变量 %s 未设置", i+1, in.ID, it.SecretEnv)
						}
						in.Secret = &v
					}
					c, err := s.SaveConnector(ctx, nil, iam.System(), in)
					if err != nil {
						return fmt.Errorf("第 %d 项（%s）：%w", i+1, in.ID, err)
					}
					state := "待配置"
					if c.Enabled {
						state = "已启用"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s：%s\n", c.ID, c.Name, state)
				}
				return nil
			})
		},
	}
	config.AddFlags(c.Flags())
	c.Flags().StringVar(&file, "file", "", "配置文件（JSON）")
	return c
}
