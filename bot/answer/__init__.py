"""From a question to its answer: the served snapshot (snapshot), the one answer sequence
(assistant, events) and the extractive composer; the reader is in bot/answer/reader."""
