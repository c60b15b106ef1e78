-- Whether a request's token counts are Switchyard's and not the provider's: estimated (a
-- streamed answer from a provider that reports no usage) or, when nothing could be counted,
-- zero. The usage API says how many of each model's requests were counted so.
ALTER TABLE llm_usage ADD COLUMN estimated BOOLEAN NOT NULL DEFAULT false;
