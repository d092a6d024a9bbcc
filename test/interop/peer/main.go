// Command peer runs one upstream NSM component (networkservicemesh/sdk v1.13.2) for the interop
// tests of nsm-ts: -mode registry | nsmgr | nse | nsc. Plaintext gRPC wrapped in grpcfd (fd
// passing on unix sockets) and allow-all authorization, as the sdk's own sandbox tests run its
// chains; tokens are the sandbox's HS256 test tokens with -token-lifetime.
// With -spiffe it runs as upstream's cmd-* do in a deployment: an X.509 SVID from the SPIFFE
// Workload API (SPIFFE_ENDPOINT_SOCKET), mTLS (go-spiffe tlsconfig, AuthorizeAny), ES256 path
// tokens signed with the SVID (spiffejwt) and upstream's default authorize policies.
//
// It prints "READY <url>" once serving (registry, nsmgr, nse), and the nsc prints
// "CONN <json>" after each Request; the nsc reads commands on stdin: "request" (again, with
// the connection it got), "close" (prints "CLOSED"), EOF = close and exit.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/edwarnicke/grpcfd"
	"github.com/google/uuid"
	"github.com/networkservicemesh/api/pkg/api/networkservice"
	"github.com/networkservicemesh/api/pkg/api/networkservice/mechanisms/cls"
	kernelmech "github.com/networkservicemesh/api/pkg/api/networkservice/mechanisms/kernel"
	"github.com/networkservicemesh/api/pkg/api/networkservice/mechanisms/noop"
	registryapi "github.com/networkservicemesh/api/pkg/api/registry"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/networkservicemesh/sdk/pkg/networkservice/chains/client"
	"github.com/networkservicemesh/sdk/pkg/networkservice/chains/endpoint"
	"github.com/networkservicemesh/sdk/pkg/networkservice/chains/nsmgr"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/authorize"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/clientinfo"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/heal"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/mechanisms"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/mechanisms/kernel"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/mechanisms/sendfd"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/null"
	"github.com/networkservicemesh/sdk/pkg/networkservice/ipam/point2pointipam"
	registryclient "github.com/networkservicemesh/sdk/pkg/registry/chains/client"
	"github.com/networkservicemesh/sdk/pkg/registry/chains/memory"
	registryauthorize "github.com/networkservicemesh/sdk/pkg/registry/common/authorize"
	registryclientinfo "github.com/networkservicemesh/sdk/pkg/registry/common/clientinfo"
	registrysendfd "github.com/networkservicemesh/sdk/pkg/registry/common/sendfd"
	"github.com/networkservicemesh/sdk/pkg/tools/sandbox"
	"github.com/networkservicemesh/sdk/pkg/tools/spiffejwt"
	"github.com/networkservicemesh/sdk/pkg/tools/token"
)

var (
	mode      = flag.String("mode", "", "registry | nsmgr | nse | nsc")
	name      = flag.String("name", "", "component name")
	listen    = flag.String("listen", "", "listen URL (registry, nsmgr); nse: unix socket path dir default tmp")
	connectTo = flag.String("connect-to", "", "nsmgr URL (nse, nsc)")
	regURL    = flag.String("registry-url", "", "nsmgr: remote registry URL (default: in-memory)")
	service   = flag.String("service", "icmp-responder", "network service (nse, nsc)")
	cidr      = flag.String("cidr", "172.16.1.0/24", "nse: address pool")
	ifname    = flag.String("ifname", "nsm-1", "nsc: interface name")
	lifetime  = flag.Duration("token-lifetime", 10*time.Minute, "token lifetime")
	noHeal    = flag.Bool("no-heal", false, "nsc: no heal")
	noFirst   = flag.Bool("no-request", false, "nsc: do not request at start (wait for commands)")
	spiffe    = flag.Bool("spiffe", false, "mTLS with an SVID from SPIFFE_ENDPOINT_SOCKET, spiffejwt tokens, default authorize policies")
	spiffeID  = flag.String("spiffe-id", "", "with -spiffe: use the SVID with this SPIFFE ID when the agent gives several (default: the first)")
	reqTO     = flag.Duration("request-timeout", 15*time.Second, "nsc: per Request/Close timeout (the NSM_REQUEST_TIMEOUT of cmd-nsc; keep it below the token lifetime)")
)

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "peer %s: %s: %v\n", *mode, what, err)
		os.Exit(2)
	}
}

func parseURL(s string) *url.URL {
	u, err := url.Parse(s)
	must(err, "parse URL "+s)
	return u
}

func listenOn(ctx context.Context, u *url.URL) net.Listener {
	network, addr := "tcp", u.Host
	if u.Scheme == "unix" {
		network, addr = "unix", u.Path
		_ = os.Remove(addr)
	}
	l, err := (&net.ListenConfig{}).Listen(ctx, network, addr)
	must(err, "listen "+u.String())
	return l
}

// serverCreds: plaintext, or mTLS with the SVID under -spiffe
var serverCreds = insecure.NewCredentials()

func newServer() *grpc.Server {
	return grpc.NewServer(grpc.Creds(grpcfd.TransportCredentials(serverCreds)))
}

// upstream's default policies under -spiffe (as cmd-nsmgr, cmd-nse-icmp-responder, cmd-nsc), else allow all
func nsAuthz() []authorize.Option {
	if *spiffe {
		return nil
	}
	return []authorize.Option{authorize.Any()}
}

func regServerAuthz() registryauthorize.Option {
	if *spiffe {
		return registryauthorize.WithPolicies("etc/nsm/opa/common/.*.rego", "etc/nsm/opa/registry/.*.rego", "etc/nsm/opa/server/.*.rego")
	}
	return registryauthorize.Any()
}

func regClientAuthz() registryauthorize.Option {
	if *spiffe {
		return registryauthorize.WithPolicies("etc/nsm/opa/common/.*.rego", "etc/nsm/opa/registry/.*.rego", "etc/nsm/opa/client/.*.rego")
	}
	return registryauthorize.Any()
}

// secure: the SVID source, tokens signed with it, and mTLS dial options as upstream's cmd-nsc
func secure(ctx context.Context) (token.GeneratorFunc, []grpc.DialOption) {
	var opts []workloadapi.X509SourceOption
	if *spiffeID != "" {
		opts = append(opts, workloadapi.WithDefaultX509SVIDPicker(func(svids []*x509svid.SVID) *x509svid.SVID {
			for _, s := range svids {
				if s.ID.String() == *spiffeID {
					return s
				}
			}
			return svids[0]
		}))
	}
	source, err := workloadapi.NewX509Source(ctx, opts...)
	must(err, "X.509 source from SPIFFE_ENDPOINT_SOCKET")
	svid, err := source.GetX509SVID()
	must(err, "SVID")
	fmt.Fprintf(os.Stderr, "peer %s: SVID %s\n", *mode, svid.ID)
	serverCreds = credentials.NewTLS(tlsconfig.MTLSServerConfig(source, source, tlsconfig.AuthorizeAny()))
	tokens := spiffejwt.TokenGeneratorFunc(source, *lifetime)
	return tokens, []grpc.DialOption{
		grpc.WithTransportCredentials(grpcfd.TransportCredentials(
			credentials.NewTLS(tlsconfig.MTLSClientConfig(source, source, tlsconfig.AuthorizeAny())))),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true), grpc.PerRPCCredentials(token.NewPerRPCCredentials(tokens))),
		grpcfd.WithChainStreamInterceptor(),
		grpcfd.WithChainUnaryInterceptor(),
	}
}

func main() {
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	tokens := sandbox.GenerateExpiringToken(*lifetime)
	dialOpts := append(sandbox.DialOptions(sandbox.WithTokenGenerator(tokens)), grpc.WithDefaultCallOptions(grpc.WaitForReady(true)))
	if *spiffe {
		tokens, dialOpts = secure(ctx)
	}
	if *mode != "nsc" {
		// stdin closes when the test process dies: never outlive it
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}
	switch *mode {
	case "registry":
		runRegistry(ctx, tokens, dialOpts)
	case "nsmgr":
		runNsmgr(ctx, tokens, dialOpts)
	case "nse":
		runNse(ctx, tokens, dialOpts)
	case "nsc":
		runNsc(ctx, dialOpts)
	default:
		must(fmt.Errorf("unknown -mode %q", *mode), "flags")
	}
}

func serve(ctx context.Context, srv *grpc.Server, u *url.URL) {
	l := listenOn(ctx, u)
	go func() { _ = srv.Serve(l) }()
	fmt.Printf("READY %s\n", u.String())
	<-ctx.Done()
	srv.Stop()
}

func runRegistry(ctx context.Context, tokens token.GeneratorFunc, dialOpts []grpc.DialOption) {
	reg := memory.NewServer(ctx, tokens,
		memory.WithDefaultExpiration(time.Minute),
		memory.WithDialOptions(dialOpts...),
		memory.WithAuthorizeNSRegistryServer(registryauthorize.NewNetworkServiceRegistryServer(regServerAuthz())),
		memory.WithAuthorizeNSERegistryServer(registryauthorize.NewNetworkServiceEndpointRegistryServer(regServerAuthz())),
		memory.WithAuthorizeNSRegistryClient(registryauthorize.NewNetworkServiceRegistryClient(regClientAuthz())),
		memory.WithAuthorizeNSERegistryClient(registryauthorize.NewNetworkServiceEndpointRegistryClient(regClientAuthz())),
	)
	srv := newServer()
	reg.Register(srv)
	serve(ctx, srv, parseURL(*listen))
}

func runNsmgr(ctx context.Context, tokens token.GeneratorFunc, dialOpts []grpc.DialOption) {
	u := parseURL(*listen)
	opts := []nsmgr.Option{
		nsmgr.WithName(*name),
		nsmgr.WithDialOptions(dialOpts...),
		nsmgr.WithDialTimeout(2 * time.Second),
		nsmgr.WithAuthorizeServer(authorize.NewServer(nsAuthz()...)),
		nsmgr.WithAuthorizeNSRegistryServer(registryauthorize.NewNetworkServiceRegistryServer(regServerAuthz())),
		nsmgr.WithAuthorizeNSERegistryServer(registryauthorize.NewNetworkServiceEndpointRegistryServer(regServerAuthz())),
		nsmgr.WithAuthorizeNSRegistryClient(registryauthorize.NewNetworkServiceRegistryClient(regClientAuthz())),
		nsmgr.WithAuthorizeNSERegistryClient(registryauthorize.NewNetworkServiceEndpointRegistryClient(regClientAuthz())),
	}
	if *regURL != "" {
		// as cmd-nsmgr; without a registry (in-memory, tests only) there is no URL to publish, and
		// discoverforwarder's query by URL would not match the fd URLs the memory store keeps
		opts = append(opts, nsmgr.WithRegistry(parseURL(*regURL)), nsmgr.WithURL(u.String()))
	}
	mgr := nsmgr.NewServer(ctx, tokens, opts...)
	srv := newServer()
	mgr.Register(srv)
	serve(ctx, srv, u)
}

// runNse registers and serves as cmd-nse-icmp-responder does: a unix socket in a temp dir,
// registered as inode:// with its fd (registry sendfd), the netns passed back by sendfd.
func runNse(ctx context.Context, tokens token.GeneratorFunc, dialOpts []grpc.DialOption) {
	_, pool, err := net.ParseCIDR(*cidr)
	must(err, "parse -cidr")
	ep := endpoint.NewServer(ctx, tokens,
		endpoint.WithName(*name),
		endpoint.WithAuthorizeServer(authorize.NewServer(nsAuthz()...)),
		endpoint.WithAdditionalFunctionality(
			point2pointipam.NewServer(pool),
			mechanisms.NewServer(map[string]networkservice.NetworkServiceServer{
				kernelmech.MECHANISM: kernel.NewServer(),
				noop.MECHANISM:       null.NewServer(),
			}),
			sendfd.NewServer(),
		),
	)
	dir, err := os.MkdirTemp("", *name)
	must(err, "temp dir")
	defer func() { _ = os.RemoveAll(dir) }()
	listenURL := &url.URL{Scheme: "unix", Path: filepath.Join(dir, "listen.on")}
	srv := newServer()
	ep.Register(srv)
	l := listenOn(ctx, listenURL)
	go func() { _ = srv.Serve(l) }()

	nsmgrURL := parseURL(*connectTo)
	nsReg := registryclient.NewNetworkServiceRegistryClient(ctx,
		registryclient.WithClientURL(nsmgrURL),
		registryclient.WithDialOptions(dialOpts...),
		registryclient.WithAuthorizeNSRegistryClient(registryauthorize.NewNetworkServiceRegistryClient(regClientAuthz())),
	)
	_, err = nsReg.Register(ctx, &registryapi.NetworkService{Name: *service, Payload: "ETHERNET"})
	must(err, "register network service")
	nseReg := registryclient.NewNetworkServiceEndpointRegistryClient(ctx,
		registryclient.WithClientURL(nsmgrURL),
		registryclient.WithDialOptions(dialOpts...),
		registryclient.WithNSEAdditionalFunctionality(
			registryclientinfo.NewNetworkServiceEndpointRegistryClient(),
			registrysendfd.NewNetworkServiceEndpointRegistryClient(),
		),
		registryclient.WithAuthorizeNSERegistryClient(registryauthorize.NewNetworkServiceEndpointRegistryClient(regClientAuthz())),
	)
	nse, err := nseReg.Register(ctx, &registryapi.NetworkServiceEndpoint{
		Name:                 *name,
		NetworkServiceNames:  []string{*service},
		NetworkServiceLabels: map[string]*registryapi.NetworkServiceLabels{*service: {}},
		Url:                  listenURL.String(),
	})
	must(err, "register endpoint")
	fmt.Printf("READY %s %s\n", listenURL.String(), nse.GetName())
	<-ctx.Done()
	srv.Stop()
}

func bench(ctx context.Context, c networkservice.NetworkServiceClient, n int) {
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		req := &networkservice.NetworkServiceRequest{
			Connection: &networkservice.Connection{Id: *name + "-b-" + uuid.NewString()[:8], NetworkService: *service},
			MechanismPreferences: []*networkservice.Mechanism{
				{Cls: cls.LOCAL, Type: kernelmech.MECHANISM},
			},
		}
		rctx, rcancel := context.WithTimeout(ctx, *reqTO)
		start := time.Now()
		got, err := c.Request(rctx, req)
		took := time.Since(start)
		rcancel()
		if err != nil {
			fmt.Printf("ERROR bench: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			return
		}
		out = append(out, fmt.Sprintf("%.3f", float64(took.Microseconds())/1000))
		cctx, ccancel := context.WithTimeout(ctx, *reqTO)
		_, _ = c.Close(cctx, got)
		ccancel()
	}
	fmt.Printf("BENCH %s\n", strings.Join(out, ","))
}

func runNsc(ctx context.Context, dialOpts []grpc.DialOption) {
	opts := []client.Option{
		client.WithName(*name),
		client.WithClientURL(parseURL(*connectTo)),
		client.WithAuthorizeClient(authorize.NewClient(nsAuthz()...)),
		client.WithAdditionalFunctionality(
			clientinfo.NewClient(),
			kernel.NewClient(kernel.WithInterfaceName(*ifname)),
			sendfd.NewClient(),
		),
		client.WithDialOptions(dialOpts...),
		client.WithDialTimeout(5 * time.Second),
	}
	if !*noHeal {
		opts = append(opts, client.WithHealClient(heal.NewClient(ctx)))
	}
	c := client.NewClient(ctx, opts...)
	id := *name + "-" + uuid.NewString()[:8]
	req := &networkservice.NetworkServiceRequest{
		Connection: &networkservice.Connection{Id: id, NetworkService: *service},
		MechanismPreferences: []*networkservice.Mechanism{
			{Cls: cls.LOCAL, Type: kernelmech.MECHANISM},
		},
	}
	var conn *networkservice.Connection
	request := func() bool {
		rctx, rcancel := context.WithTimeout(ctx, *reqTO)
		defer rcancel()
		r := req.Clone()
		if conn != nil {
			r.Connection = conn.Clone()
		}
		got, err := c.Request(rctx, r)
		if err != nil {
			fmt.Printf("ERROR %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			return false
		}
		conn = got
		b, _ := protojson.Marshal(conn)
		fmt.Printf("CONN %s\n", b)
		return true
	}
	closeConn := func() {
		if conn == nil {
			return
		}
		cctx, ccancel := context.WithTimeout(context.Background(), *reqTO)
		defer ccancel()
		start := time.Now()
		_, err := c.Close(cctx, conn)
		if err != nil {
			fmt.Printf("ERROR close: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			return
		}
		fmt.Printf("CLOSED %d\n", time.Since(start).Milliseconds())
		conn = nil
	}
	if !*noFirst {
		request()
	}
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		switch strings.TrimSpace(lines.Text()) {
		case "request":
			request()
		case "close":
			closeConn()
		case "exit":
			return
		default:
			// "bench N": N sequential new connections (Request timed, then Close); prints the ms of each Request
			var n int
			if _, err := fmt.Sscanf(lines.Text(), "bench %d", &n); err == nil {
				bench(ctx, c, n)
			}
		}
	}
	closeConn()
}
