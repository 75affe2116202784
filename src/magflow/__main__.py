from magflow.cli import app

app(prog_name="magflow")
