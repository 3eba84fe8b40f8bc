"""What every HTTP service of switchyard's puts in front of its application (proxy and ingest):
limits a client meets before the application sees a byte."""
