"""Text to phonemes: cleaning (nothing the user wrote is dropped), markup and the lexicon, G2P per
language, and the chunks the model reads (at most 510 phonemes each, with word spans for timings)."""
