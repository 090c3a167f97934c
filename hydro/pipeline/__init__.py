"""The wiring of readers -> stages -> writers: the only place where files meet the stages."""
