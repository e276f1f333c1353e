"""The turn: a claimed inbox event is handled by the first of an ordered list of small handlers
(`handlers`) over one typed context (`context`); a core call (`core_client`, `core_turn`) answers
most messages; everything the turn changes is written at once, fenced on the claim (`finish`)."""
