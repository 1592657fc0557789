Feature: Gateway
  jessy-api authenticates, rate-limits and reports health in front of jessy-core.

  Background:
    Given jessy-core and jessy-api are running with a rate limit of 2 per second and a burst of 3

  Scenario: A request without a key is refused
    When I query the gateway without a key
    Then the gateway answers 401

  Scenario: A request with a wrong key is refused
    When I query the gateway with the key "jsy_not-a-real-key"
    Then the gateway answers 401

  Scenario: A request with a good key gets a routing result
    When I query the gateway with the good key
    Then the gateway answers 200
    And the answer is a routing result

  Scenario: Requests past the rate limit are turned away
    When I send 10 queries at once with the good key
    Then at least one answer is 429 with a Retry-After header

  Scenario: Public health says only whether the gateway can serve
    When I ask the gateway for its health
    Then the gateway answers 200
    And the health says only "healthy"

  Scenario: Health details the upstream core for an admin key
    When I ask the gateway for its health with the good key
    Then the gateway answers 200
    And the health lists 1 upstream
