"""From paths to scores: discover, decode (+EXIF), cache, the local engine, batches, Ray."""
