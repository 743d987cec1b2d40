module example.com/usermod

go 1.26.0

require github.com/mlc-dev/mlc v0.0.0

replace github.com/mlc-dev/mlc => ../../../..
