# Lists the disks this host sees, after a storage rescan, in the shape of Get-Disk (MSFT_Disk).
# Matching the presented LUN to a disk is done by the caller: how UniqueId renders an NAA/EUI
# designator varies by vendor, so the caller normalises and compares.
# With iscsiTargets, each disk also lists the target IQNs of the iSCSI sessions it is on:
# Get-IscsiSession -Disk (parameter set ByDisk, learn.microsoft.com/powershell/module/iscsi/get-iscsisession;
# "there is an association between the iSCSI session and the disk object", Get-IscsiSession help).
# Argument (JSON): { "rescan": bool, "iscsiTargets": bool (optional) }
param([string]$InputJson)
$ErrorActionPreference = 'Stop'
$in = $InputJson | ConvertFrom-Json
if ($in.rescan) { Update-HostStorageCache }
$disks = @(Get-Disk | ForEach-Object {
  $disk = $_
  $row = [ordered]@{
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
  if ($in.iscsiTargets) {
    $row.IscsiTargetNodes = @(Get-IscsiSession -Disk $disk -ErrorAction SilentlyContinue | ForEach-Object { [string]$_.TargetNodeAddress })
  }
  $row
})
# -InputObject keeps a one-disk answer an array
ConvertTo-Json -InputObject $disks -Depth 4 -Compress
