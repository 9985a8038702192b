"""The scanner stage: catalogers → SBOMs, vulnerability matching, secrets, misconfiguration."""
