from aescull.cli import app

app(prog_name="aescull")
