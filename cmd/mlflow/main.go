// Command mlflow runs declarative MLOps workflows. See README.md.
package main

import "os"

func main() { os.Exit(Main()) }
