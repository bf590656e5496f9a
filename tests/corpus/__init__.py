"""Input-validation corpus: bad and odd inputs for the public /generate API, synthesised locally."""
