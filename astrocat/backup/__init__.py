"""S3 backup: every library file as one object named by its path and checked by its sha256,
session manifests, database snapshots, verify without download, restore from the archive."""
