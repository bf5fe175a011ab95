package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
)

func init() {
	register(&command{name: "login", usage: "login [-u USER] [-p PASSWORD | --password-stdin] [SERVER]", short: "Log in to a registry (credentials kept by berthd)", run: runLogin})
}

func runLogin(g *globals, args []string) error {
	fs := newFlags("login")
	user := fs.String("u", "", "username")
	fs.StringVar(user, "username", "", "username")
	pass := fs.String("p", "", "password")
	fs.StringVar(pass, "password", "", "password")
	stdin := fs.Bool("password-stdin", false, "read the password from standard input")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError{"accepts at most 1 argument"}
	}
	server := ""
	if len(pos) == 1 {
		server = pos[0]
	}
	if *stdin {
		if *pass != "" {
			return usageError{"--password and --password-stdin are mutually exclusive"}
		}
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 64<<10))
		if err != nil {
			return err
		}
		*pass = strings.TrimRight(string(b), "\r\n")
	}
	if *user == "" {
		fmt.Print("Username: ")
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		*user = strings.TrimSpace(line)
	}
	if *pass == "" && !*stdin {
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			return fmt.Errorf("cannot prompt for a password: standard input is not a terminal (use --password-stdin)")
		}
		fmt.Print("Password: ")
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Println()
		if err != nil {
			return err
		}
		*pass = string(b)
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := c.Registry().Login(c.Context(context.Background()), &berthv1.LoginRequest{Server: server, Username: *user, Password: *pass})
	if err != nil {
		return err
	}
	fmt.Printf("Login Succeeded (%s; credentials stored in %s)\n", resp.Server, resp.ConfigPath)
	return nil
}
