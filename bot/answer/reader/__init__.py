"""The answer reader: candidate sentences, their features, a fitted probability that each
answers the question, and short answers (see README, "Answers and refusals")."""
