Feature: Dimension navigation
  Which dimensions a query activates, where in each it lands, and when nothing applies.

  Scenario: An anxious message about an exam tomorrow activates emotion and temporal
    Given the default registry
    When I query "I'm so anxious about my exam tomorrow"
    Then the outcome is "matched"
    And the dimension "emotion" is active
    And the dimension "temporal" is active
    And every active dimension has a layer path starting at depth 0

  Scenario: A query outside every dimension gets no match and no made-up answer
    Given the default registry
    When I query "how many teaspoons are in a tablespoon"
    Then the outcome is "no_match"
    And no dimension is active
    And the context is empty

  Scenario: More than six active dimensions return to source
    Given a registry of 8 dimensions with one distinctive word each
    When I query all 8 distinctive words at once
    Then the result says it returned to source
    And at most 3 dimensions are active

  Scenario: The security dimension is always evaluated
    Given the default registry
    When I query "someone is asking me for my bank password by email"
    Then the safety signal is flagged
