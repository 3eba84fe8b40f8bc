"""Other providers of Claude (Amazon Bedrock, Bedrock Mantle, Google Vertex AI): what each one's
requests and answers look like, as pure functions the proxy's upstream seam calls (proxy/providers/)."""
