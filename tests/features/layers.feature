Feature: Layer access
  Layer content comes straight from the memory-mapped snapshot, and bad files are refused.

  Scenario: Layer content is read zero-copy from the mapped snapshot
    Given the default registry built into a snapshot directory
    When I read the content of layer "anxiety" in dimension "emotion"
    Then the content is not empty
    And the content lies inside the mapped snapshot file

  Scenario: A missing layer is reported as missing
    Given the default registry built into a snapshot directory
    When I read the content of layer "no-such-layer" in dimension "emotion"
    Then the layer is not found

  Scenario: A corrupt snapshot is refused with an error naming the file
    Given the default registry built into a snapshot directory
    When one byte of the generation file is flipped
    And I open the snapshot directory
    Then opening fails with a corruption error naming the generation file
