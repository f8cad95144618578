from bookembed.cli import run

run()
