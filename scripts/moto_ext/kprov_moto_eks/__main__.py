"""`python -m kprov_moto_eks -H 127.0.0.1 -p PORT`: moto's server with kprov's EKS extension."""

import sys

from moto import server

from . import install

if __name__ == "__main__":
    install()
    server.main(sys.argv[1:])
