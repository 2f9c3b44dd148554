# The host's initiator ports, as an array knows the host by them (Get-InitiatorPort, class
# MSFT_InitiatorPort: learn.microsoft.com/windows-hardware/drivers/storage/msft-initiatorport).
# ConnectionType is passed on as the number (0 Other, 1 Fibre Channel, 2 iSCSI, 3 SAS); the caller
# takes the WWPN (PortAddress) of a Fibre Channel port and the IQN (NodeAddress) of an iSCSI one.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$null = ConvertFrom-HvsnapInput $InputJson
$ports = @(Get-InitiatorPort | ForEach-Object {
    [ordered]@{ ConnectionType = [int]$_.ConnectionType; NodeAddress = [string]$_.NodeAddress; PortAddress = [string]$_.PortAddress }
  })
ConvertTo-HvsnapJson ([ordered]@{ Ports = $ports })
