# Lists the disks this host sees, after a storage rescan, in the shape of Get-Disk (MSFT_Disk).
# Matching the presented LUN to a disk is done by the caller: how UniqueId renders an NAA/EUI
# designator varies by vendor, so the caller normalises and compares.
# Argument (JSON): { "rescan": bool }
param([string]$InputJson)
$ErrorActionPreference = 'Stop'
$in = $InputJson | ConvertFrom-Json
if ($in.rescan) { Update-HostStorageCache }
$disks = @(Get-Disk | ForEach-Object {
  [ordered]@{
    Number          = $_.Number
    UniqueId        = [string]$_.UniqueId
    UniqueIdFormat  = $_.UniqueIdFormat
    SerialNumber    = if ($_.SerialNumber) { ([string]$_.SerialNumber).Trim() } else { $null }
    FriendlyName    = [string]$_.FriendlyName
    Size            = $_.Size
    BusType         = $_.BusType
    PartitionStyle  = $_.PartitionStyle
    Guid            = [string]$_.Guid
    Signature       = $_.Signature
    IsOffline       = [bool]$_.IsOffline
    OfflineReason   = $_.OfflineReason
    IsReadOnly      = [bool]$_.IsReadOnly
    IsClustered     = [bool]$_.IsClustered
    IsBoot          = [bool]$_.IsBoot
    IsSystem        = [bool]$_.IsSystem
  }
})
# -InputObject keeps a one-disk answer an array
ConvertTo-Json -InputObject $disks -Depth 4 -Compress
