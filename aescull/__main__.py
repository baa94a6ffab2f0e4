from aescull.cli.app import app

app(prog_name="aescull")
