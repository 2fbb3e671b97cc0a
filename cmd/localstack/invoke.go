package main

func invokeCmd(args []string) error { return nil }
