Feature: Memory manager
  Snapshot generations are published atomically; readers keep theirs; crashes lose nothing.

  Scenario: Publishing a generation keeps existing readers on theirs
    Given the default registry built into a snapshot directory
    And a reader holding the current generation
    When a layer "sourdough" is added to dimension "creative"
    Then the current generation is newer than the reader's
    And the reader's generation has no layer "sourdough"
    And the current generation has the layer "sourdough"

  Scenario: A build killed while it runs leaves the last generation intact
    Given the default registry built into a snapshot directory
    When a build into the same directory is killed while it runs
    Then the snapshot directory verifies
